"""The same thin program as stacks/__main__.py, for the mutation tests' extra production baseline."""

from modelport.program import run_stack

run_stack()
