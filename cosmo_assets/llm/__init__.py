"""Model access for every stage: one client on litellm, plus the embedded SmolLM2 server."""

import os

# litellm fetches its price map from the network on import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
