"""Errors that dnnmap raises for bad input."""


class InputError(ValueError):
    """Bad input that the user must fix.

    The message is one line that names the file, row or key at fault and says what was
    expected, so it reads well at the end of a Snakemake log.
    """
