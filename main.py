"""Cloud Functions entry module: every deployed function, by the name firebase.json uses.

Deploy with `--source .` and `--entry-point <name>`; the local gateway serves the same
objects through functions-framework.
"""

from functions.callbacks import callback_gpu
from functions.pics.catalog import pics_catalog
from functions.pics.jobs import pics_jobs
from functions.pics.users import pics_users
from functions.tasks import task_dispatch, task_sweep

__all__ = ["callback_gpu", "pics_catalog", "pics_jobs", "pics_users", "task_dispatch", "task_sweep"]
