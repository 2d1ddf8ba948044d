"""A local emulator of a provincial procurement platform's API (招采子系统),
serving orders, deliveries, payments and the listed catalogue derived from a
landing directory, with planted discrepancies and injectable faults. For
tests and the demo; see README "Pulling from the provincial platform".

    from platform_emulator import Fault, PlatformEmulator, build_dataset
    dataset = build_dataset(landing_dir, as_of)
    with PlatformEmulator(dataset, token, faults=[Fault("error500", "orders", at=2)]) as emulator:
        ...  # YAOCAI_PLATFORM_URL = emulator.url
"""

from platform_emulator.dataset import PlatformDataset, build_dataset
from platform_emulator.server import Fault, PlatformEmulator

__all__ = ["Fault", "PlatformDataset", "PlatformEmulator", "build_dataset"]
