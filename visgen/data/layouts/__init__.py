"""Data layouts: one module per way a data set lies on disk, each turning a source into an :class:`ImageIndex`.

Importing this package imports every module in it, and each registers its layout (``LAYOUTS``);
``data.source`` names one. A new layout is one module here (a :class:`DataLayout` subclass under
``@register_layout``) and one ``conf/data/<name>.yaml``; see docs/extend/layouts.md.
"""

import importlib
import pkgutil

from visgen.data.layouts.base import (
    LAYOUTS,
    DataLayout,
    LayoutFacts,
    ScanRequest,
    layout_class,
    layout_keys,
    register_layout,
)
from visgen.data.layouts.index import ImageIndex, SkippedItem
from visgen.data.layouts.roles import NOVEL, PartitionRoles

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "LAYOUTS",
    "NOVEL",
    "DataLayout",
    "ImageIndex",
    "LayoutFacts",
    "PartitionRoles",
    "ScanRequest",
    "SkippedItem",
    "layout_class",
    "layout_keys",
    "register_layout",
]
