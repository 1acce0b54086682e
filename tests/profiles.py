"""Profile snippets shared by the tests that take manifests of files only."""

# Every section but files switched off: the manifest depends on the test's tree alone.
ONLY_FILES = """
packages: {enabled: false}
services: {enabled: false}
accounts: {enabled: false}
network: {enabled: false}
kernel: {enabled: false}
"""
