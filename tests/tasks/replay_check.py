from apps.tasks.models import Task
from apps.tasks.replay import task_replay


def assert_replay_matches_rows(task_id) -> None:
    """The state rebuilt from events alone equals the rows."""
    task = Task.objects.get(pk=task_id)
    state = task_replay(task_id)
    assert state.status == task.status
    assert state.progress == task.progress
    assert state.attempt == task.attempt
    assert state.fields["title"] == task.title
    assert state.fields["target"] == task.target
    assert state.fields["priority"] == task.priority
    if task.status == "completed":
        assert state.summary == task.summary
    else:
        assert state.error == task.error_message
    steps = {s.id: s for s in task.steps.all()}
    assert set(state.steps) == set(steps)
    for step_id, step in steps.items():
        replayed = state.steps[step_id]
        assert (replayed.agent, replayed.status, replayed.attempt) == (
            step.agent_type,
            step.status,
            step.attempt,
        )
        assert replayed.progress == step.progress, step
        assert replayed.error == step.error_message
    results = {r.step_id: r for r in task.results.all()}
    assert set(state.results) == set(results)
    for step_id, result in results.items():
        replayed = state.results[step_id]
        assert replayed["id"] == str(result.id)
        assert replayed["status"] == result.status
        assert replayed["summary"] == result.summary
        assert replayed["data"] == result.data
