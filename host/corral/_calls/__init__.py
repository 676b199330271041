"""_calls"""
