"""Two people completing the same task at the same moment: exactly one wins, the other gets 409."""
from __future__ import annotations

import threading

from cmsflow.workflow import engine
from tests.conftest import PASSWORD, Api


def test_two_simultaneous_completions_give_one_200_and_one_409(app, api, new_procedure, monkeypatch):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    task_id = api("head_ene").get("/tasks").get_json()["tasks"][0]["id"]
    clients = [Api(app.test_client(), "head_ene") for _ in range(2)]

    # Hold both requests inside the step (after loading the instance) so they really overlap;
    # on PostgreSQL the second blocks on the row lock instead, and the barrier just times out.
    barrier = threading.Barrier(2, timeout=3)
    original = engine.complete_user_task

    def slow_complete(*args, **kwargs):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "complete_user_task", slow_complete)
    results = []

    def complete(client):
        res = client.post(f"/tasks/{task_id}/complete", json={"decision": "approve", "password": PASSWORD})
        results.append((res.status_code, res.get_json()))

    threads = [threading.Thread(target=complete, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    codes = sorted(code for code, _ in results)
    assert codes == [200, 409], results
    loser = next(body for code, body in results if code == 409)
    assert loser["error"]["code"] in ("concurrent_step", "task_closed")
    mr_tasks = [t for t in api("mr").get("/tasks").get_json()["tasks"] if t["name"] == "mr_approval"]
    assert len(mr_tasks) == 1  # the process advanced exactly once
