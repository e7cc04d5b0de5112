"""Every module of compute-emu's ``wit_world`` implementation (importing one registers it)."""

from . import backends as backends
from . import cache as cache
from . import http as http
from . import messages as messages
from . import services as services
from . import stores as stores
