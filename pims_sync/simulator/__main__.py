"""`python -m pims_sync.simulator [options]`: the simulator alone, without loading the rest of the CLI."""

from pims_sync.cli.simulator_cmd import command

if __name__ == "__main__":
    command(prog_name="python -m pims_sync.simulator")
