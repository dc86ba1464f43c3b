"""Application functions, one per use case: what the JSON API and the firm's console both call.

Roles, validation, store calls and workflow starts/updates live here once; a router or a page only
turns HTTP into a call and the answer (or an `app.errors.AppError`) into JSON or HTML. Nothing here
imports api/: the arrows go api -> app -> domain, store, core, workflows.
"""
