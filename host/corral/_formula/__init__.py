"""_formula"""
