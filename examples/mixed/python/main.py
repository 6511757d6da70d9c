import sys


def handler(event, context):
    return {"runtime": "python", "version": sys.version.split()[0], "input": event}
