"""_fetch"""
