using System.Collections.Immutable;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Webhooks;
using Azure;
using Grpc.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Sessions;

/// <summary>What the HTTP side learns after sending a command.</summary>
/// <param name="Pending">The orchestration had not applied the command within the acknowledgement bound.</param>
public sealed record CommandAck(CommandResult? Result, SessionView View, bool Pending);

/// <summary>A request to create a session, already validated.</summary>
public sealed record NewSession(string AgentName, int MaxSteps, string? Goal, string? StartUrl, Uri? WebhookUrl = null);

/// <summary>
/// Everything the HTTP functions do to sessions, over the Durable client: start, read, command
/// (and wait for the orchestration's answer), list and delete. All lookups are owner-scoped.
/// </summary>
public sealed class SessionGateway(
    DurableTaskClient client, IMessageStore messages, ISessionClaims claims, SessionsOptions options, TimeProvider time,
    WebhookOptions webhooks)
{
    private static readonly OrchestrationRuntimeStatus[] AnyExisting =
    [
        OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Suspended,
        OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed, OrchestrationRuntimeStatus.Terminated,
    ];

    /// <summary>
    /// Starts a session. With an idempotency key the session id is derived from (owner, key), so a
    /// retried create names the same session; the claim lets only one racing create start it and
    /// the others answer with the session that exists. <c>Created</c> is false for such repeats.
    /// </summary>
    public async Task<(SessionView View, bool Created)> CreateAsync(
        string owner, NewSession request, string? idempotencyKey, CancellationToken cancellationToken)
    {
        // Refuses the URL when webhooks are not configured, or when it targets a private network.
        if (request.WebhookUrl is { } webhookUrl)
        {
            await new WebhookUrlGuard(webhooks).EnsureAllowedAsync(webhookUrl, cancellationToken);
        }

        var sessionId = idempotencyKey is null ? Guid.NewGuid().ToString("D") : SessionIds.FromIdempotencyKey(owner, idempotencyKey);
        var instanceId = SessionIds.InstanceId(owner, sessionId);
        if (idempotencyKey is not null && !await claims.TryClaimAsync(instanceId, cancellationToken))
        {
            return (await WaitForExistingAsync(instanceId, cancellationToken), false);
        }

        var now = TruncateToMilliseconds(time.GetUtcNow());
        var state = SessionState.New(sessionId, request.AgentName, request.MaxSteps, request.Goal, now);
        var goalCommand = request.Goal is null ? null : new CommandEnvelope(NewCommandId(), CommandEnvelope.Message, request.Goal, request.StartUrl);
        var input = new SessionInput(state, options.RuntimeSettings with { WebhookUrl = request.WebhookUrl?.ToString() },
            goalCommand is null ? [] : [goalCommand], [], Generation: 0);

        // The dispatcher exists before the session can send it anything.
        if (request.WebhookUrl is not null)
        {
            await WebhookDispatch.StartAsync(client, instanceId, request.WebhookUrl.ToString(), webhooks, cancellationToken);
        }

        await client.ScheduleNewOrchestrationInstanceAsync(SessionOrchestration.Name, input,
            new StartOrchestrationOptions(instanceId).WithDedupeStatuses(AnyExisting), cancellationToken);

        if (goalCommand is null)
        {
            return (SessionView.From(state, []), true);
        }

        // A goal starts a task at once; answer only when the session shows it, so a GET right
        // after the create never sees "ready".
        var ack = await WaitForResultAsync(instanceId, goalCommand.Id, cancellationToken);
        return (ack.View, true);
    }

    /// <summary>The racing create that won the claim is starting the session; wait until it exists.</summary>
    private async Task<SessionView> WaitForExistingAsync(string instanceId, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.AckTimeout;
        foreach (var delay in PollDelays())
        {
            var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
            if (ReadView(metadata) is { } view)
            {
                return view.Deleted ? throw ApiException.SessionNotFound() : view;
            }

            if (time.GetUtcNow() >= deadline)
            {
                throw new ApiException(409, "create_in_progress", "A create with this Idempotency-Key is still in progress; retry shortly");
            }

            await Task.Delay(delay, time, cancellationToken);
        }

        throw new InvalidOperationException("unreachable");
    }

    public async Task<SessionView> GetAsync(string owner, string sessionId, CancellationToken cancellationToken)
    {
        var metadata = await client.GetInstanceAsync(SessionIds.InstanceId(owner, sessionId), getInputsAndOutputs: true, cancellationToken);
        return ReadView(metadata) is { Deleted: false } view ? view : throw ApiException.SessionNotFound();
    }

    public async Task<IReadOnlyList<SessionView>> ListAsync(string owner, CancellationToken cancellationToken)
    {
        var query = new OrchestrationQuery
        {
            InstanceIdPrefix = SessionIds.OwnerPrefix(owner),
            FetchInputsAndOutputs = true,
            PageSize = 200,
        };
        var views = new List<SessionView>();
        await foreach (var metadata in client.GetAllInstancesAsync(query).WithCancellation(cancellationToken))
        {
            if (metadata.InstanceId.StartsWith(query.InstanceIdPrefix, StringComparison.Ordinal) && ReadView(metadata) is { Deleted: false } view)
            {
                views.Add(view);
            }
        }

        return [.. views.OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.SessionId, StringComparer.Ordinal)];
    }

    /// <summary>Sends a command and waits (bounded) until the orchestration has applied it.</summary>
    public async Task<CommandAck> SendAsync(string owner, string sessionId, string kind, string? text, string? startUrl, CancellationToken cancellationToken)
    {
        var instanceId = SessionIds.InstanceId(owner, sessionId);
        var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
        if (ReadView(metadata) is not { Deleted: false } || !IsLive(metadata!))
        {
            throw ApiException.SessionNotFound();
        }

        var command = new CommandEnvelope(NewCommandId(), kind, text, startUrl);
        try
        {
            await client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, command, cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            // Raising an event to an instance that ended in the meantime throws; to the caller
            // that session is gone.
            throw ApiException.SessionNotFound();
        }

        return await WaitForResultAsync(instanceId, command.Id, cancellationToken);
    }

    /// <summary>Ends the session's work and removes its history and messages; false if there was none.</summary>
    public async Task<bool> DeleteAsync(string owner, string sessionId, CancellationToken cancellationToken)
    {
        var instanceId = SessionIds.InstanceId(owner, sessionId);
        var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
        if (metadata is null)
        {
            return false;
        }

        var existed = ReadView(metadata) is { Deleted: false };
        if (IsLive(metadata))
        {
            await StopAsync(instanceId, cancellationToken);
        }

        await WebhookDispatch.OnSessionDeletedAsync(client, instanceId, webhooks, cancellationToken);
        await client.PurgeInstanceAsync(instanceId, cancellationToken);
        await messages.DeleteSessionAsync(instanceId, cancellationToken);
        await claims.ReleaseAsync(instanceId, cancellationToken);
        return existed;
    }

    public async Task DeleteAllAsync(string owner, CancellationToken cancellationToken)
    {
        var sessions = await ListAsync(owner, cancellationToken);
        await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (view, token) => await DeleteAsync(owner, view.SessionId, token));
    }

    /// <summary>
    /// Asks the orchestration to end itself (it cancels its timer and stops taking work); if it
    /// does not within the acknowledgement bound, terminates it. Either way it ends terminal, so
    /// purge can remove it.
    /// </summary>
    private async Task StopAsync(string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            await client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent,
                new CommandEnvelope(NewCommandId(), CommandEnvelope.Delete), cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            // Already ended: nothing to stop.
        }

        if (await WaitUntilEndedAsync(instanceId, options.AckTimeout, cancellationToken))
        {
            return;
        }

        await client.TerminateInstanceAsync(instanceId, "session deleted", cancellationToken);
        if (!await WaitUntilEndedAsync(instanceId, TimeSpan.FromSeconds(30), cancellationToken))
        {
            throw new TimeoutException($"Orchestration {instanceId} did not end after terminate.");
        }
    }

    private async Task<bool> WaitUntilEndedAsync(string instanceId, TimeSpan bound, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + bound;
        foreach (var delay in PollDelays())
        {
            var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: false, cancellationToken);
            if (metadata is null || !IsLive(metadata))
            {
                return true;
            }

            if (time.GetUtcNow() >= deadline)
            {
                return false;
            }

            await Task.Delay(delay, time, cancellationToken);
        }

        return false;
    }

    private async Task<CommandAck> WaitForResultAsync(string instanceId, string commandId, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.AckTimeout;
        SessionView? last = null;
        foreach (var delay in PollDelays())
        {
            // The command is already on its way: a failed read must not turn into an error the
            // client would retry (and so send the command twice). Keep polling; at worst, 202.
            OrchestrationMetadata? metadata;
            try
            {
                metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
            }
            catch (Exception exception) when (exception is RpcException or RequestFailedException or HttpRequestException or IOException
                && !cancellationToken.IsCancellationRequested)
            {
                if (time.GetUtcNow() >= deadline)
                {
                    if (last is not null)
                    {
                        break;
                    }

                    throw new ApiException(503, "unavailable", "The session store could not be read; the command was sent and may still be applied");
                }

                await Task.Delay(delay, time, cancellationToken);
                continue;
            }

            var view = ReadView(metadata);
            if (view is null || view.Deleted)
            {
                throw ApiException.SessionNotFound();
            }

            last = view;
            if (view.Results.FirstOrDefault(r => r.Id == commandId) is { } result)
            {
                return new CommandAck(result, view, Pending: false);
            }

            if (!IsLive(metadata!))
            {
                throw ApiException.SessionNotFound();
            }

            if (time.GetUtcNow() >= deadline)
            {
                break;
            }

            await Task.Delay(delay, time, cancellationToken);
        }

        return new CommandAck(null, last!, Pending: true);
    }

    /// <summary>Polls quickly at first (the orchestration usually answers within tens of ms), then eases off.</summary>
    private static IEnumerable<TimeSpan> PollDelays()
    {
        var delay = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            yield return delay;
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 200));
        }
    }

    private static bool IsLive(OrchestrationMetadata metadata) => metadata.RuntimeStatus is
        OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Pending or OrchestrationRuntimeStatus.Suspended;

    /// <summary>
    /// The session as last published. Before the first episode has run there is no custom status
    /// yet, so the view is predicted from the input by applying its queued commands with the same
    /// rules the orchestration will use.
    /// </summary>
    public static SessionView? ReadView(OrchestrationMetadata? metadata)
    {
        if (metadata is null)
        {
            return null;
        }

        if (metadata.SerializedCustomStatus is not null && metadata.ReadCustomStatusAs<SessionView>() is { } published)
        {
            return published;
        }

        if (metadata.SerializedOutput is not null && metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed
            && metadata.ReadOutputAs<SessionView>() is { } final)
        {
            return final;
        }

        if (metadata.SerializedInput is null || metadata.ReadInputAs<SessionInput>() is not { } input)
        {
            return null;
        }

        var state = input.State;
        foreach (var queued in input.Pending)
        {
            state = SessionDecider.Decide(state, queued.ToCommand(), state.LastActivityAt).State;
        }

        return SessionView.From(state, input.Results, input.Counts);
    }

    private static string NewCommandId() => Guid.NewGuid().ToString("N");

    private static DateTimeOffset TruncateToMilliseconds(DateTimeOffset value) =>
        new(value.Ticks - (value.Ticks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
}
