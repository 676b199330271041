"""_toolchain"""
