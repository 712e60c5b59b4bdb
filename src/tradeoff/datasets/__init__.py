"""Image datasets: readers, validation and the shape/class-count seam the nets and attacks read.

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
