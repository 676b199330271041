"""_pack"""
