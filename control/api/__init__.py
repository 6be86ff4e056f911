"""The API layer: validation, defaulting, selectors and the verbs, over a Store.

    gRPC ClusterService (servicer.py)  -- translates errors to status codes at the edge
        -> ObjectAPI (objects.py)       -- verbs: create/get/list/update/apply/delete/watch/bind
            -> admission (defaulting.py, validation.py)
            -> Store (shoal.control.store)
"""
