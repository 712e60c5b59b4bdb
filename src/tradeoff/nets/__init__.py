"""Image classifiers and their pickle-free weight files.

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
