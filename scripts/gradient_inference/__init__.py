"""gradient-inference's library: what the eight commands in scripts/ do, in areas that import one
way: batch -> chat, media -> models -> ledger -> api -> core (chat and media not each other).

Belongs here: the version. Every area is a folder whose __init__ says what it holds; a command
imports the one run module of its area after parsing its flags.
"""
__version__ = "0.2.0"
