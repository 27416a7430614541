using DurableTask.Core;
using DurableTask.Core.Query;

namespace AgentSessions.Testing;

/// <summary>
/// An orchestration service as the engine hands it to the sidecar: unchanged except for how many work items its
/// dispatchers run at once, and that the engine, not the sidecar, starts and stops it. The in-memory service takes
/// one orchestration and one activity work item per core and, when those are busy, polls again only after 500 ms; on
/// a 2-core machine that turns any load above two concurrent work items into half-second steps, which would be
/// measured instead of the orchestrations. The sidecar starts the service from an <c>async void</c> handler when the
/// worker connects, so a stop that overlaps it (an engine disposed right after it started) crashes the process from a
/// background thread; the engine starts the service before the sidecar and stops it after, and the sidecar's own
/// calls do nothing. Everything else is delegated.
/// </summary>
public sealed class SlotsOrchestrationService<TInner>(TInner inner, int orchestrationSlots, int activitySlots)
    : IOrchestrationService, IOrchestrationServiceClient, IOrchestrationServiceQueryClient, IOrchestrationServicePurgeClient, IHistoryProbe
    where TInner : IOrchestrationService, IOrchestrationServiceClient, IOrchestrationServiceQueryClient, IOrchestrationServicePurgeClient
{
    public int MaxConcurrentTaskOrchestrationWorkItems => orchestrationSlots;

    public int MaxConcurrentTaskActivityWorkItems => activitySlots;

    public int TaskOrchestrationDispatcherCount => inner.TaskOrchestrationDispatcherCount;

    public int TaskActivityDispatcherCount => inner.TaskActivityDispatcherCount;

    public BehaviorOnContinueAsNew EventBehaviourForContinueAsNew => inner.EventBehaviourForContinueAsNew;

    public TInner Inner => inner;

    /// <summary>The sidecar's start: the engine has started the service already.</summary>
    public Task StartAsync() => Task.CompletedTask;

    /// <summary>The sidecar's stop: the engine stops the service itself, after the sidecar.</summary>
    public Task StopAsync() => Task.CompletedTask;

    public Task StopAsync(bool isForced) => Task.CompletedTask;

    public Task CreateAsync() => inner.CreateAsync();

    public Task CreateAsync(bool recreateInstanceStore) => inner.CreateAsync(recreateInstanceStore);

    public Task CreateIfNotExistsAsync() => inner.CreateIfNotExistsAsync();

    public Task DeleteAsync() => inner.DeleteAsync();

    public Task DeleteAsync(bool deleteInstanceStore) => inner.DeleteAsync(deleteInstanceStore);

    public bool IsMaxMessageCountExceeded(int currentMessageCount, OrchestrationRuntimeState runtimeState) =>
        inner.IsMaxMessageCountExceeded(currentMessageCount, runtimeState);

    public int GetDelayInSecondsAfterOnProcessException(Exception exception) => inner.GetDelayInSecondsAfterOnProcessException(exception);

    public int GetDelayInSecondsAfterOnFetchException(Exception exception) => inner.GetDelayInSecondsAfterOnFetchException(exception);

    public async Task<TaskOrchestrationWorkItem> LockNextTaskOrchestrationWorkItemAsync(TimeSpan receiveTimeout, CancellationToken cancellationToken)
    {
        var workItem = await inner.LockNextTaskOrchestrationWorkItemAsync(receiveTimeout, cancellationToken);
        if (workItem is not null)
        {
            DropStaleMessages(workItem);
        }

        return workItem!;
    }

    /// <summary>
    /// What the host's dispatcher (Durable Task Framework's <c>TaskOrchestrationDispatcher.ReconcileMessagesWithState</c>)
    /// does before it runs an episode and the test host's sidecar does not: it drops messages of an earlier execution
    /// (a timer or activity result that arrives after ContinueAsNew) and a second ExecutionStarted. Left in, such a
    /// message reaches the new execution as the answer to a task it never scheduled, or to one that happens to have the
    /// same id. The provider still deletes them from its queue when the work item completes.
    /// </summary>
    private static void DropStaleMessages(TaskOrchestrationWorkItem workItem)
    {
        var state = workItem.OrchestrationRuntimeState;
        var started = state?.ExecutionStartedEvent is not null;
        // A work item that starts a new execution (a restart of a terminated or failed instance) has no runtime state
        // yet: the execution is the one its ExecutionStarted names, and a late answer to the old execution's activity
        // would otherwise complete the new execution's task of the same id without that task ever running.
        var current = state?.OrchestrationInstance?.ExecutionId
            ?? workItem.NewMessages.FirstOrDefault(m => m.Event is DurableTask.Core.History.ExecutionStartedEvent)?.OrchestrationInstance?.ExecutionId;
        // Forward, so the first ExecutionStarted is the one kept.
        for (var i = 0; i < workItem.NewMessages.Count;)
        {
            var message = workItem.NewMessages[i];
            bool stale;
            if (message.Event is DurableTask.Core.History.ExecutionStartedEvent)
            {
                stale = started;
                started = true;
            }
            else
            {
                stale = current is not null && !string.IsNullOrWhiteSpace(message.OrchestrationInstance?.ExecutionId)
                    && !string.Equals(message.OrchestrationInstance.ExecutionId, current, StringComparison.Ordinal);
            }

            if (stale)
            {
                workItem.NewMessages.RemoveAt(i);
            }
            else
            {
                i++;
            }
        }
    }

    public Task RenewTaskOrchestrationWorkItemLockAsync(TaskOrchestrationWorkItem workItem) => inner.RenewTaskOrchestrationWorkItemLockAsync(workItem);

    public Task CompleteTaskOrchestrationWorkItemAsync(
        TaskOrchestrationWorkItem workItem, OrchestrationRuntimeState newOrchestrationRuntimeState, IList<TaskMessage> outboundMessages,
        IList<TaskMessage> orchestratorMessages, IList<TaskMessage> timerMessages, TaskMessage continuedAsNewMessage, OrchestrationState orchestrationState)
    {
        RecordHistory(workItem.InstanceId, workItem.OrchestrationRuntimeState, newOrchestrationRuntimeState);
        return inner.CompleteTaskOrchestrationWorkItemAsync(workItem, newOrchestrationRuntimeState, outboundMessages, orchestratorMessages,
            timerMessages, continuedAsNewMessage, orchestrationState);
    }

    /// <summary>The most history events one execution (one generation) of the instance has carried, and how many executions it had.</summary>
    public HistoryRecord? HistoryOf(string instanceId) => history.TryGetValue(instanceId, out var record) ? record : null;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, HistoryRecord> history = new();

    /// <summary>
    /// Counted where an episode completes: the runtime state then holds the execution's whole history, the episode's
    /// new events included (with extended sessions an episode may never pass through a fresh lock).
    /// </summary>
    private void RecordHistory(string instanceId, OrchestrationRuntimeState? current, OrchestrationRuntimeState? next)
    {
        var events = Math.Max(current?.Events.Count ?? 0, next?.Events.Count ?? 0);
        var executions = new[] { current?.OrchestrationInstance?.ExecutionId, next?.OrchestrationInstance?.ExecutionId }
            .Where(id => id is not null).Select(id => id!).ToArray();
        var left = TimersLeftBehind(instanceId, next ?? current);
        history.AddOrUpdate(instanceId, _ => new HistoryRecord(events, [.. executions], left),
            (_, old) => new HistoryRecord(Math.Max(old.LargestExecution, events), old.Executions.Union(executions), old.TimersLeftPending + left));
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Execution, int Pending)> pendingTimers = new();

    /// <summary>
    /// Durable timers the instance's previous execution still had pending (created, not fired) when this one
    /// replaced it; zero while the execution stays the same. The sidecar runs a ContinueAsNew within the episode,
    /// so the old execution is last seen where its previous episode completed.
    /// </summary>
    private int TimersLeftBehind(string instanceId, OrchestrationRuntimeState? state)
    {
        if (state?.OrchestrationInstance?.ExecutionId is not { } execution)
        {
            return 0;
        }

        var fired = state.Events.OfType<DurableTask.Core.History.TimerFiredEvent>().Select(e => e.TimerId).ToHashSet();
        var pending = state.Events.OfType<DurableTask.Core.History.TimerCreatedEvent>().Count(e => !fired.Contains(e.EventId));
        var left = 0;
        pendingTimers.AddOrUpdate(instanceId, (execution, pending), (_, old) =>
        {
            left = old.Execution == execution ? 0 : old.Pending;
            return (execution, pending);
        });
        return left;
    }


    public Task AbandonTaskOrchestrationWorkItemAsync(TaskOrchestrationWorkItem workItem) => inner.AbandonTaskOrchestrationWorkItemAsync(workItem);

    public Task ReleaseTaskOrchestrationWorkItemAsync(TaskOrchestrationWorkItem workItem) => inner.ReleaseTaskOrchestrationWorkItemAsync(workItem);

    /// <summary>
    /// The sidecar keeps the activities it has sent the worker by (instance id, task id), without the execution: an
    /// activity of an execution that has since been replaced (terminated, then restarted on the same id) that is still
    /// running would share its key with the new execution's task of the same id, and its answer would complete that
    /// task without it ever running. The Functions host keys invocations uniquely; here the second one waits until the
    /// first is done.
    /// </summary>
    public async Task<TaskActivityWorkItem> LockNextTaskActivityWorkItem(TimeSpan receiveTimeout, CancellationToken cancellationToken)
    {
        var workItem = await inner.LockNextTaskActivityWorkItem(receiveTimeout, cancellationToken);
        if (workItem is null)
        {
            return workItem!;
        }

        var activity = new HeldActivity(StartRenewing(workItem));
        held[workItem] = activity;
        if (workItem.TaskMessage is not { Event: DurableTask.Core.History.TaskScheduledEvent scheduled } message)
        {
            return workItem;
        }

        var key = (message.OrchestrationInstance.InstanceId, scheduled.EventId);
        var mine = new ActivityInFlight();
        while (true)
        {
            var holder = activitiesInFlight.GetOrAdd(key, mine);
            if (ReferenceEquals(holder, mine))
            {
                activity.Slot = (key, mine);
                return workItem;
            }

            await Task.WhenAny(holder.Done.Task, Task.Delay(TimeSpan.FromMinutes(1), cancellationToken));
            activitiesInFlight.TryRemove(new KeyValuePair<(string, int), ActivityInFlight>(key, holder));
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string InstanceId, int TaskId), ActivityInFlight> activitiesInFlight = new();

    /// <summary>What this service keeps for each activity work item it has handed out, until it is completed or abandoned.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<TaskActivityWorkItem, HeldActivity> held = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Keeps a running activity's queue message hidden, as the Functions host's activity dispatcher does (Durable Task
    /// Framework's <c>TaskActivityDispatcher.RenewUntil</c>: every 5 s it checks, and renews once the lock is within
    /// 30 s of expiring, or 30 s have passed). The sidecar's own dispatcher never renews, so with host.json's short
    /// work-item visibility timeout any activity longer than that would be handed out a second time here and not in
    /// production. A killed process stops renewing: that is how its activities come back. Null for work items that
    /// never expire (the in-memory service's).
    /// </summary>
    private CancellationTokenSource? StartRenewing(TaskActivityWorkItem workItem)
    {
        if (workItem.LockedUntilUtc == default || workItem.LockedUntilUtc >= DateTime.MaxValue)
        {
            return null;
        }

        var stop = new CancellationTokenSource();
        var stopped = stop.Token;
        _ = Task.Run(async () =>
        {
            var renewAt = RenewAt(workItem.LockedUntilUtc);
            try
            {
                while (true)
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), stopped);
                    if (DateTime.UtcNow < renewAt)
                    {
                        continue;
                    }

                    await inner.RenewTaskActivityWorkItemLockAsync(workItem);
                    renewAt = RenewAt(workItem.LockedUntilUtc);
                }
            }
            catch (OperationCanceledException)
            {
                // The activity is done.
            }
            catch (Exception)
            {
                // As the host: a renewal that fails (the work item completed meanwhile) ends the renewals.
            }
        });
        return stop;
    }

    private static DateTime RenewAt(DateTime lockedUntil)
    {
        var latest = DateTime.UtcNow.AddSeconds(30);
        var renewAt = lockedUntil.AddSeconds(-30);
        return renewAt > latest ? latest : renewAt;
    }

    private void ActivityDone(TaskActivityWorkItem workItem)
    {
        if (workItem is null || !held.TryRemove(workItem, out var activity))
        {
            return;
        }

        if (activity.Renewal is { } renewal)
        {
            renewal.Cancel();
            renewal.Dispose();
        }

        if (activity.Slot is { } slot)
        {
            activitiesInFlight.TryRemove(new KeyValuePair<(string, int), ActivityInFlight>(slot.Key, slot.Entry));
            slot.Entry.Done.TrySetResult();
        }
    }

    /// <param name="Renewal">Stops the renewals of its queue message.</param>
    private sealed record HeldActivity(CancellationTokenSource? Renewal)
    {
        /// <summary>Its (instance, task id) slot, once it has it.</summary>
        public ((string, int) Key, ActivityInFlight Entry)? Slot { get; set; }
    }

    private sealed class ActivityInFlight
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public Task<TaskActivityWorkItem> RenewTaskActivityWorkItemLockAsync(TaskActivityWorkItem workItem) => inner.RenewTaskActivityWorkItemLockAsync(workItem);

    /// <summary>
    /// The answer goes to the execution that scheduled the activity, as the host's activity dispatcher addresses it
    /// (it copies the scheduling message's instance, execution id included). Without the execution id, a late answer
    /// to an execution that has since been replaced (terminated and restarted) could not be told from an answer to the
    /// new execution's task of the same id.
    /// </summary>
    public async Task CompleteTaskActivityWorkItemAsync(TaskActivityWorkItem workItem, TaskMessage responseMessage)
    {
        if (responseMessage is not null && workItem?.TaskMessage?.OrchestrationInstance is { } scheduledBy
            && string.IsNullOrWhiteSpace(responseMessage.OrchestrationInstance?.ExecutionId))
        {
            responseMessage.OrchestrationInstance = scheduledBy;
        }

        try
        {
            await inner.CompleteTaskActivityWorkItemAsync(workItem!, responseMessage!);
        }
        finally
        {
            ActivityDone(workItem!);
        }
    }

    public async Task AbandonTaskActivityWorkItemAsync(TaskActivityWorkItem workItem)
    {
        try
        {
            await inner.AbandonTaskActivityWorkItemAsync(workItem);
        }
        finally
        {
            ActivityDone(workItem);
        }
    }

    public Task CreateTaskOrchestrationAsync(TaskMessage creationMessage) => inner.CreateTaskOrchestrationAsync(creationMessage);

    public Task CreateTaskOrchestrationAsync(TaskMessage creationMessage, OrchestrationStatus[] dedupeStatuses) =>
        inner.CreateTaskOrchestrationAsync(creationMessage, dedupeStatuses);

    public Task SendTaskOrchestrationMessageAsync(TaskMessage message) => inner.SendTaskOrchestrationMessageAsync(message);

    public Task SendTaskOrchestrationMessageBatchAsync(params TaskMessage[] messages) => inner.SendTaskOrchestrationMessageBatchAsync(messages);

    public Task<OrchestrationState> WaitForOrchestrationAsync(string instanceId, string executionId, TimeSpan timeout, CancellationToken cancellationToken) =>
        inner.WaitForOrchestrationAsync(instanceId, executionId, timeout, cancellationToken);

    public Task ForceTerminateTaskOrchestrationAsync(string instanceId, string reason) => inner.ForceTerminateTaskOrchestrationAsync(instanceId, reason);

    public Task<IList<OrchestrationState>> GetOrchestrationStateAsync(string instanceId, bool allExecutions) =>
        inner.GetOrchestrationStateAsync(instanceId, allExecutions);

    public Task<OrchestrationState> GetOrchestrationStateAsync(string instanceId, string executionId) =>
        inner.GetOrchestrationStateAsync(instanceId, executionId);

    public Task<string> GetOrchestrationHistoryAsync(string instanceId, string executionId) => inner.GetOrchestrationHistoryAsync(instanceId, executionId);

    public Task PurgeOrchestrationHistoryAsync(DateTime thresholdDateTimeUtc, OrchestrationStateTimeRangeFilterType timeRangeFilterType) =>
        inner.PurgeOrchestrationHistoryAsync(thresholdDateTimeUtc, timeRangeFilterType);

    public Task<OrchestrationQueryResult> GetOrchestrationWithQueryAsync(OrchestrationQuery query, CancellationToken cancellationToken) =>
        inner.GetOrchestrationWithQueryAsync(query, cancellationToken);

    public Task<PurgeResult> PurgeInstanceStateAsync(string instanceId) => inner.PurgeInstanceStateAsync(instanceId);

    public Task<PurgeResult> PurgeInstanceStateAsync(PurgeInstanceFilter purgeInstanceFilter) => inner.PurgeInstanceStateAsync(purgeInstanceFilter);
}

/// <summary>What <see cref="SlotsOrchestrationService{TInner}.HistoryOf"/> saw of one instance.</summary>
/// <param name="LargestExecution">The most history events any one execution carried.</param>
/// <param name="Executions">The execution ids seen: one per generation (ContinueAsNew starts a new one).</param>
/// <param name="TimersLeftPending">Durable timers, over all generations, that were still pending when their generation
/// was replaced: each fires later into a newer generation, where the Azure Storage provider treats its message as out
/// of order.</param>
public sealed record HistoryRecord(int LargestExecution, System.Collections.Immutable.ImmutableHashSet<string> Executions, int TimersLeftPending = 0);

/// <summary>How much history the instances of an engine have carried (see <see cref="HistoryRecord"/>).</summary>
public interface IHistoryProbe
{
    HistoryRecord? HistoryOf(string instanceId);
}
