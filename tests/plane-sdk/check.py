"""Plane's official Python SDK (plane-sdk on PyPI) against git-oc's fake Plane server.

Run by tests/cli/test_plane.rs with the fake's URL, token, workspace and project: the SDK performs
the operations git-oc uses (users/me, project, states, labels list and create, work items list
with pagination, retrieve with expand=state, create, update of state, labels and description,
comments list and create) and validates every answer with its own pydantic models. Any
mismatch raises; exit status 0 means the fake answered as the SDK expects Plane to.
"""

import sys

from plane.client import PlaneClient
from plane.models.labels import CreateLabel
from plane.models.query_params import RetrieveQueryParams, WorkItemQueryParams
from plane.models.work_items import CreateWorkItem, CreateWorkItemComment, UpdateWorkItem
from plane.errors import HttpError

url, token, ws, project = sys.argv[1:5]
client = PlaneClient(base_url=url, api_key=token)

me = client.users.get_me()
assert me.email == "oc@example.com", me
assert client.projects.retrieve(ws, project).name

states = client.states.list(ws, project).results
by_name = {s.name: s for s in states}
for needed in ["Backlog", "Ready for AI", "Running", "In Review", "Blocked", "Done", "Cancelled"]:
    assert needed in by_name, f"missing state {needed}"
ready, done = by_name["Ready for AI"].id, by_name["Done"].id

label = client.labels.create(ws, project, CreateLabel(name="repo: svc"))
assert label.id and label.name == "repo: svc"
try:
    client.labels.create(ws, project, CreateLabel(name="repo: svc"))
    raise AssertionError("a duplicate label was accepted")
except HttpError as e:
    assert e.status_code == 409, e
labels = client.labels.list(ws, project).results
assert [l.name for l in labels] == ["repo: svc"]

created = [
    client.work_items.create(
        ws,
        project,
        CreateWorkItem(
            name=f"SDK item {i}",
            description_html="<p>a<br/>b</p><p>c &amp; d</p>",
            state=ready,
            labels=[label.id],
        ),
    )
    for i in range(5)
]
assert all(c.id for c in created)
assert created[0].description_html == "<div><p>a<br>b</p><p>c &amp; d</p></div>", created[0].description_html

# Every page, two at a time, newest first.
seen, cursor = [], None
while True:
    page = client.work_items.list(ws, project, params=WorkItemQueryParams(per_page=2, cursor=cursor))
    seen += [w.id for w in page.results]
    if not page.next_page_results:
        break
    cursor = page.next_cursor
assert set(c.id for c in created) <= set(seen), (seen, created)
assert seen.index(created[-1].id) < seen.index(created[0].id), "newest first"

item = client.work_items.retrieve(ws, project, created[0].id, params=RetrieveQueryParams(expand="state"))
assert item.state.name == "Ready for AI", item.state

updated = client.work_items.update(ws, project, created[0].id, UpdateWorkItem(state=done, labels=[]))
assert updated.state == done and updated.completed_at, updated
try:
    client.work_items.update(ws, project, created[0].id, UpdateWorkItem(state="Running"))
    raise AssertionError("a state name was accepted as a state id")
except HttpError as e:
    assert e.status_code == 400, e

comment = client.work_items.comments.create(
    ws, project, created[0].id, CreateWorkItemComment(comment_html="<p>Result</p><ul><li>ok</li></ul>")
)
assert comment.comment_html == "<p>Result</p><ul><li>ok</li></ul>"
comments = client.work_items.comments.list(ws, project, created[0].id).results
assert comments[0].id == comment.id and comments[0].is_member is True

try:
    client.work_items.retrieve(ws, project, "00000000-0000-4000-8000-00000000ffff")
    raise AssertionError("an unknown work item was found")
except HttpError as e:
    assert e.status_code == 404, e

bad = PlaneClient(base_url=url, api_key="wrong")
try:
    bad.users.get_me()
    raise AssertionError("a wrong token was accepted")
except HttpError as e:
    assert e.status_code == 403, e
print("plane-sdk: all checks passed")
