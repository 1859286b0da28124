"""one version per training job, and cancel requests for running jobs

A version registered by a training job carries the job's id (unique), so a job that
crashed between registering its version and completing finds that version on its
retry instead of registering a second one. `jobs.cancel_requested_at` is set by
`POST /jobs/{id}/cancel` on a running job; its worker reads it and stops the fit.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_model_versions_job_id", ["job_id"])
        batch_op.create_foreign_key("fk_model_versions_job_id", "jobs", ["job_id"], ["id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("cancel_requested_at")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_model_versions_job_id", type_="foreignkey")
        batch_op.drop_constraint("uq_model_versions_job_id", type_="unique")
        batch_op.drop_column("job_id")
