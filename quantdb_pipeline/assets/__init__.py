"""Dagster assets, one module per domain, and `publish`, which runs after every dataset.

Nothing here lists the assets: Dagster's module loader finds them in this package's modules, and
each says its group and market (`selections`). A new dataset is an asset in a module of this
package; `project_assets()` (the Definitions, the CLI's runs), `dataset_keys()` (what
`published_warehouse` depends on) and `from quantdb_pipeline.assets import <asset name>` find it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import AssetKey, AssetsDefinition

#: The module of `published_warehouse`, which depends on every dataset of the other modules.
PUBLISH_MODULE = f"{__name__}.publish"


def _module_names() -> list[str]:
    return [info.name for info in pkgutil.iter_modules(__path__, f"{__name__}.")]


def dataset_modules() -> list[ModuleType]:
    """Every module of this package but `publish`, imported (helpers such as `checks` hold no asset).
    None of them may import `publish`: it is defined from them (`dataset_keys`)."""
    return [importlib.import_module(name) for name in _module_names() if name != PUBLISH_MODULE]


def dataset_keys() -> list[AssetKey]:
    """The keys of every dataset (each asset of a market, `selections.DATASETS`) in the dataset
    modules, sorted: `published_warehouse`'s dependencies, computed when it is defined. Called by
    `publish` as it is imported, so it loads only the other modules."""
    from dagster import AssetsDefinition, SourceAsset, load_assets_from_modules

    from quantdb_pipeline.selections import DATASETS

    # what `resolve` takes (it refuses anything else); the modules define no other kind
    loaded = load_assets_from_modules(dataset_modules())
    return sorted(DATASETS.resolve([a for a in loaded if isinstance(a, (AssetsDefinition, SourceAsset))]))


@functools.cache
def project_assets() -> list[AssetsDefinition]:
    """Every asset of the package, `published_warehouse` included, as Dagster's loader returns them
    (copies of the modules' objects, with the same ops: match an asset by its `node_def`)."""
    from dagster import AssetsDefinition, load_assets_from_modules

    loaded = load_assets_from_modules([*dataset_modules(), importlib.import_module(PUBLISH_MODULE)])
    return [a for a in loaded if isinstance(a, AssetsDefinition)]


@functools.cache
def project_asset_checks() -> list:
    """The package's asset checks defined apart from their asset (`@asset_check`); a dataset's own
    checks ride with its asset (`check_specs`) and come with `project_assets()`."""
    from dagster import load_asset_checks_from_modules

    return list(load_asset_checks_from_modules([*dataset_modules(), importlib.import_module(PUBLISH_MODULE)]))


def select(selection) -> list[AssetsDefinition]:
    """The project's assets (`project_assets()`) that the `AssetSelection` selects, by key: a stable
    order (each run orders its steps by their dependencies)."""
    every = project_assets()
    keys = selection.resolve(every)
    return sorted((a for a in every if a.keys & keys), key=lambda a: sorted(a.keys))


def _export_assets() -> None:
    """Binds each asset to its name here (`from quantdb_pipeline.assets import corporate_actions`:
    the asset, not its module): the objects of the modules that define them."""
    from dagster import AssetsDefinition

    for module in [*dataset_modules(), importlib.import_module(PUBLISH_MODULE)]:
        globals().update(
            {
                name: value
                for name, value in vars(module).items()
                if isinstance(value, AssetsDefinition) and not name.startswith("_")
            }
        )


_export_assets()
