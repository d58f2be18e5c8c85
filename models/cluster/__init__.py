"""models/cluster"""
