"""Create the topology at the configured endpoint, or write it out as Terraform variables.

python -m scripts.create_topology                  # bootstrap from the environment's settings
python -m scripts.create_topology --demo-queues    # ... plus the practical's two demo queues
python -m scripts.create_topology --write-tfvars   # (re)write terraform/*.auto.tfvars.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from shared.aws.clients import aws_client
from shared.aws.demo_queues import DEMO_QUEUE_NAMES, ensure_queue
from shared.contracts.topology import as_terraform_vars
from shared.messaging.provisioning import Deployed, bootstrap
from shared.settings import Settings

TERRAFORM_DIR = Path(__file__).resolve().parents[1] / "terraform"
TOPOLOGY_TFVARS = "topology.auto.tfvars.json"
DEMO_TFVARS = "demo_queues.auto.tfvars.json"


def tfvars_files() -> dict[str, dict[str, object]]:
    """Each generated Terraform variables file by name, with its content."""
    return {
        TOPOLOGY_TFVARS: as_terraform_vars(),
        DEMO_TFVARS: {"demo_queue_names": list(DEMO_QUEUE_NAMES)},
    }


def render(variables: dict[str, object]) -> str:
    return json.dumps(variables, indent=2, sort_keys=True) + "\n"


def write_tfvars(directory: Path) -> list[Path]:
    written = []
    for name, variables in tfvars_files().items():
        path = directory / name
        path.write_text(render(variables))
        written.append(path)
    return written


def describe(deployed: Deployed, demo_queues: dict[str, str]) -> list[str]:
    """What exists now, one resource a line."""
    lines = [f"topic   {deployed.topic_arn}", f"bucket  {deployed.bucket}"]
    lines += [f"queue   {name}  {url}" for name, url in deployed.queue_urls.items()]
    lines += [f"demo    {name}  {url}" for name, url in demo_queues.items()]
    return lines


async def create(settings: Settings, with_demo_queues: bool) -> list[str]:
    deployed = await bootstrap(settings)
    demo_queues: dict[str, str] = {}
    if with_demo_queues:
        async with aws_client(settings, "sqs") as sqs:
            demo_queues = {name: await ensure_queue(sqs, name) for name in DEMO_QUEUE_NAMES}
    return describe(deployed, demo_queues)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.create_topology", description=__doc__)
    parser.add_argument(
        "--demo-queues", action="store_true", help="also create the practical's demo queues"
    )
    parser.add_argument(
        "--write-tfvars",
        nargs="?",
        const=TERRAFORM_DIR,
        type=Path,
        metavar="DIR",
        help=f"write {TOPOLOGY_TFVARS} and {DEMO_TFVARS} (default: terraform/); no AWS calls",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_tfvars is not None:
        for path in write_tfvars(args.write_tfvars):
            print(f"wrote {path}")
        return 0
    settings = Settings.from_env()
    endpoint = settings.aws_endpoint_url or f"AWS ({settings.aws_region})"
    try:
        lines = asyncio.run(create(settings, args.demo_queues))
    except (EndpointUnreachable, OSError) as exc:
        print(f"create_topology: cannot reach {endpoint}: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"create_topology: {endpoint}: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"create_topology: {endpoint} refused: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
