"""The only code that talks to Firestore, one module per aggregate.

``appointments``: the room lifecycle's writes, the join's read, the waiting room's named writes and
the sweep's queries. ``directory``: the clinic's doctors. ``audit``: ``videoAccessLog``.
``attendance``: webhook events and ended meetings. ``guests``: invitations and their codes' lookup.
``emulator_ids``: a workaround for the Functions emulator only.
"""
