"""Signals between domains (blinker); domains react to each other without importing each other.

- ``task_completed(sender=process_id, task=HumanTask, session=Session, actor=User)``: after a human
  task completed inside the step transaction.
- ``process_completed(sender=process_id, instance=ProcessInstance, session=Session)``.
- ``process_stepped(sender=process_id, instance=ProcessInstance, session=Session)``: after every
  saved step (start, task completion, timers), once the human-task rows are in sync.
- ``subject_changed(sender=subject_type, subject_id=int, session=Session)``: something searchable changed.
"""
from blinker import Namespace

_signals = Namespace()
task_completed = _signals.signal("task-completed")
process_completed = _signals.signal("process-completed")
subject_changed = _signals.signal("subject-changed")
process_stepped = _signals.signal("process-stepped")
