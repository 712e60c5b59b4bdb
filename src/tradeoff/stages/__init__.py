"""Stage entry points called by the workflow's thin scripts, one module per rule family.

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
