"""models/drift"""
