# A stand-in for boto3: the function's own copy.
OWN = True
__version__ = "0.0.0-own"
