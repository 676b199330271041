"""_connections"""
