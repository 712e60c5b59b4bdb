"""Paper Section 4: gradients, large-eps examples, filters and App. E linear classifiers.

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
