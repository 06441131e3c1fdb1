"""The permission a client must hold to store risk attributes (:mod:`anonymize.extract.attributes`).

A module of its own, without imports, so that the client store and the command line
name it without loading the attribute store and its dependencies.
"""

# The explicit permission a client needs to replace subjects' attributes (``POST /v1/attributes``):
# risk attributes feed credit decisions, so holding a purpose is not enough to write them.
WRITE_ATTRIBUTES = "write_attributes"
