"""_sandbox"""
