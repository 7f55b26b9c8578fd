"""The modelport stack program: validated config in, one component per target out, endpoints exported."""

from components.program import run_stack

run_stack()
