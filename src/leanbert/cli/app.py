"""The typer application every command module registers on."""
import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Cheaper BERT encoders: token reduction and sparse attention, measured honestly.")
