"""The theory half (paper Section 2): the data model D(p, eta, d), its closed forms, the robust-margin SVM and exact evaluation.

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
