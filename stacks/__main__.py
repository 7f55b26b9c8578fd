"""The modelport stack program: validated config in, one component per target out, endpoints exported."""

from modelport.program import run_stack

run_stack()
