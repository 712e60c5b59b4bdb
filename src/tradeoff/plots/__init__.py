"""Figures: they draw tidy tables; they compute no science.

Keep this file free of imports: each rule's code hash covers only the modules its stage imports.
"""
