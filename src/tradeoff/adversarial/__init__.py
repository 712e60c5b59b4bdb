"""Adversarial training, attacks and robust evaluation (paper Section 3).

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
