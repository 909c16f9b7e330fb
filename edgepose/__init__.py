"""edgepose: lightweight real-time human pose estimation for edge devices.

Importing the package stays cheap and torch-free; models, training and export live in sub-packages that
import torch only when used, so ``edgepose.runtime`` works on devices without PyTorch.
"""

from edgepose.errors import CheckpointError, ConfigError, DataError, EdgeposeError

__version__ = "0.1.0"

__all__ = ["CheckpointError", "ConfigError", "DataError", "EdgeposeError", "__version__"]
