"""Data layouts: one module per way a data set lies on disk, each turning a source into an :class:`ImageIndex`.

Each module registers its layout in ``LAYOUTS``, which imports every module here the first time it is asked;
``data.source`` names one. A new layout is one module here (a :class:`DataLayout` subclass under
``@LAYOUTS.register("<name>")``) and one ``conf/data/<name>.yaml``; see docs/extend/layouts.md.
"""

from visgen.data.layouts.base import LAYOUTS, DataLayout, LayoutFacts, ScanRequest, layout_keys
from visgen.data.layouts.index import ImageIndex, SkippedItem
from visgen.data.layouts.roles import NOVEL, PartitionRoles

__all__ = [
    "LAYOUTS",
    "NOVEL",
    "DataLayout",
    "ImageIndex",
    "LayoutFacts",
    "PartitionRoles",
    "ScanRequest",
    "SkippedItem",
    "layout_keys",
]
