"""Controllers: the control loops that turn desired state into actual state.

Each controller is a pure planner (current objects in, actions out) and a thin async runner
that feeds it from informer caches and carries its actions out through the API, as any client
would. Everything is level-based: a controller acts on what the objects say now, never on a
remembered sequence of events, so a restart in the middle of its work loses nothing.

    informers (List + Watch per kind, local cache)   -> handlers map changes to keys
    work queues of keys (dedup, rate-limited retry)  -> workers call Controller.sync(key)
    sync: read caches -> plan_*(objects, now) -> Actions -> ActionExecutor (gRPC) + events

Modules:
    runtime       informer (caches, List+Watch), workqueue, actions (+ executor), events (recorder),
                  controller (base class, settings), manager (run_controller_manager)
    shared facts  meta (keys, owner refs, selectors), pods (readiness, deletion order), ownership
                  (adopt/release, expectations), deployment_util (hashes, fenceposts, conditions)
    controllers   garbage_collector, namespace, replicaset, deployment, job, service_ip, endpoints,
                  event_ttl, node_lifecycle, hpa (+ replica_calculator, its metric arithmetic)
    command       rollout_command (`shoal rollout status|history|undo|restart|pause|resume`)
"""
