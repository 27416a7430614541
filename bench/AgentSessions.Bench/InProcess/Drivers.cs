using System.Collections.Immutable;
using System.Diagnostics;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Sessions;
using Grpc.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Bench.InProcess;

/// <summary>How many instance reads the acknowledgements took, and how much they carried.</summary>
public sealed class PollCounter
{
    public long Polls;
    public long PayloadChars;
    public long Waits;

    /// <summary>Counts one read: the serialized input and custom status are what a reader transfers and parses.</summary>
    public void Count(OrchestrationMetadata? metadata)
    {
        Interlocked.Increment(ref Polls);
        Interlocked.Add(ref PayloadChars, (metadata?.SerializedInput?.Length ?? 0) + (metadata?.SerializedCustomStatus?.Length ?? 0));
    }

    public double PollsPerWait => Waits == 0 ? double.NaN : (double)Polls / Waits;

    public double PayloadBytesPerPoll => Polls == 0 ? double.NaN : (double)PayloadChars / Polls;
}

/// <summary>What a poll of the instance says about one command.</summary>
public enum AckState
{
    Waiting,
    Accepted,
    Rejected,
    Gone,
}

/// <summary>
/// The client side both orchestrations are measured with: raise the command event, then read the instance
/// (with inputs and outputs, as the gateway does) on the gateway's poll schedule until its custom status
/// shows the command. Only the check of the custom status differs between the two orchestrations.
/// </summary>
public static class AckClient
{
    public static async Task<CallOutcome> SendAsync(
        DurableTaskClient client, string instanceId, CommandEnvelope command, Func<OrchestrationMetadata?, string, (AckState State, string? Code)> check,
        TimeSpan bound, PollCounter counter, CancellationToken cancellationToken)
    {
        try
        {
            await client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, command, cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            return CallOutcome.Failure("404");
        }

        return await WaitAsync(client, instanceId, command.Id, check, bound, counter, cancellationToken);
    }

    public static async Task<CallOutcome> WaitAsync(
        DurableTaskClient client, string instanceId, string commandId, Func<OrchestrationMetadata?, string, (AckState State, string? Code)> check,
        TimeSpan bound, PollCounter counter, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref counter.Waits);
        var deadline = Stopwatch.GetTimestamp() + (long)(bound.TotalSeconds * Stopwatch.Frequency);
        foreach (var delay in Workload.PollDelays())
        {
            var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
            counter.Count(metadata);
            var (state, code) = check(metadata, commandId);
            switch (state)
            {
                case AckState.Accepted:
                    return CallOutcome.Success();
                case AckState.Rejected:
                    return CallOutcome.Failure("409 " + code);
                case AckState.Gone:
                    return CallOutcome.Failure("404");
            }

            if (Stopwatch.GetTimestamp() >= deadline)
            {
                return CallOutcome.Failure("202 pending");
            }

            await Task.Delay(delay, cancellationToken);
        }

        throw new UnreachableException();
    }

    public static bool IsLive(OrchestrationMetadata metadata) => metadata.RuntimeStatus is
        OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Pending or OrchestrationRuntimeStatus.Suspended;

    /// <summary>
    /// Terminates the instance and waits until it has ended. It is not purged: a step in flight still
    /// completes later, and the in-memory backend drops that completion only while it knows the instance ended.
    /// </summary>
    public static async Task StopAsync(DurableTaskClient client, string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            await client.TerminateInstanceAsync(instanceId, "benchmark phase over", cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            // Already ended.
        }

        var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
        foreach (var delay in Workload.PollDelays())
        {
            var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: false, cancellationToken);
            if (metadata is null || !IsLive(metadata))
            {
                return;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{instanceId} did not end within 30 s of terminate");
            }

            await Task.Delay(delay, cancellationToken);
        }
    }
}

/// <summary>
/// The real session orchestration. Creates go through <see cref="SessionGateway.CreateAsync"/>; commands go
/// through <see cref="AckClient"/> (the same client code as the bare reference) or, with
/// <c>--client gateway</c>, through <see cref="SessionGateway.SendAsync"/>, which first reads the instance to
/// check the session exists and so costs one more round trip per command.
/// </summary>
public sealed class SessionDriver(Engine engine, bool viaGateway) : IMessageDriver
{
    public string Name => "ours";

    /// <summary>Polls made by raise+poll commands (not by the gateway path); swapped per phase.</summary>
    public PollCounter Polls { get; set; } = new();

    public async Task<(CallOutcome Outcome, string? Session)> CreateAsync(string goal, CancellationToken cancellationToken)
    {
        var (view, _) = await engine.Gateway.CreateAsync(Engine.Owner,
            new NewSession(Engine.AgentName, AgentSessions.Core.Sessions.SessionState.MaxStepsLimit, goal, null), null, cancellationToken);
        return view.Status == "running"
            ? (CallOutcome.Success("201"), view.SessionId)
            : (CallOutcome.Failure("201 but " + view.Status), view.SessionId);
    }

    public async Task<CallOutcome> CommandAsync(string session, string kind, string? text, CancellationToken cancellationToken)
    {
        if (!viaGateway)
        {
            return await AckClient.SendAsync(engine.Client, SessionIds.InstanceId(Engine.Owner, session),
                new CommandEnvelope(CommandEnvelope.NewId(), kind, text), Check, engine.Options.AckTimeout, Polls, cancellationToken);
        }

        try
        {
            var ack = await engine.Gateway.SendAsync(Engine.Owner, session, kind, text, null, cancellationToken);
            return ack switch
            {
                { Pending: true } => CallOutcome.Failure("202 pending"),
                { Result.Outcome: "rejected" } => CallOutcome.Failure("409 " + ack.Result.Code),
                _ => CallOutcome.Success(),
            };
        }
        catch (ApiException error)
        {
            return CallOutcome.Failure($"{error.StatusCode} {error.Code}");
        }
    }

    public async Task<(CallOutcome Outcome, IReadOnlyList<MessageRef> Messages)> ReadMessagesAsync(string session, long afterId, CancellationToken cancellationToken)
    {
        // What GET /v1/sessions/{id}/messages does behind HTTP: the session's status, then its messages.
        try
        {
            await engine.Gateway.GetAsync(Engine.Owner, session, cancellationToken);
        }
        catch (ApiException error)
        {
            return (CallOutcome.Failure($"{error.StatusCode} {error.Code}"), []);
        }

        var messages = await engine.Store.ReadAsync(SessionIds.InstanceId(Engine.Owner, session), afterId, 1000, cancellationToken);
        return (CallOutcome.Success(), [.. messages.Select(m => new MessageRef(m.Id, m.Type))]);
    }

    public async Task DeleteAsync(string session, CancellationToken cancellationToken)
    {
        var instanceId = SessionIds.InstanceId(Engine.Owner, session);
        await AckClient.StopAsync(engine.Client, instanceId, cancellationToken);
        await engine.Store.DeleteSessionAsync(instanceId, cancellationToken);
    }

    public static (AckState State, string? Code) Check(OrchestrationMetadata? metadata, string commandId)
    {
        var view = SessionGateway.ReadView(metadata);
        if (view is null || view.Deleted)
        {
            return (AckState.Gone, null);
        }

        if (view.Results.FirstOrDefault(r => r.Id == commandId) is { } result)
        {
            return result.Outcome == "rejected" ? (AckState.Rejected, result.Code) : (AckState.Accepted, null);
        }

        return AckClient.IsLive(metadata!) ? (AckState.Waiting, null) : (AckState.Gone, null);
    }
}

/// <summary>The bare reference orchestration, driven with the same client code.</summary>
public sealed class BareDriver(Engine engine) : ISessionDriver
{
    public string Name => "bare";

    public PollCounter Polls { get; set; } = new();

    public async Task<(CallOutcome Outcome, string? Session)> CreateAsync(string goal, CancellationToken cancellationToken)
    {
        // The bare orchestration has no task; it counts as created once it has published its first status.
        var instanceId = "bare:" + Guid.NewGuid().ToString("D");
        await engine.Client.ScheduleNewOrchestrationInstanceAsync(BareOrchestration.Name,
            new BareOrchestration.Input(ImmutableList<string>.Empty, engine.Options.CommandsPerGeneration),
            new StartOrchestrationOptions(instanceId), cancellationToken);
        var outcome = await AckClient.WaitAsync(engine.Client, instanceId, string.Empty,
            (metadata, _) => metadata?.SerializedCustomStatus is not null ? (AckState.Accepted, null) : (AckState.Waiting, null),
            engine.Options.AckTimeout, new PollCounter(), cancellationToken);
        return (outcome.Ok ? CallOutcome.Success("201") : outcome, instanceId);
    }

    public Task<CallOutcome> CommandAsync(string session, string kind, string? text, CancellationToken cancellationToken) =>
        AckClient.SendAsync(engine.Client, session, new CommandEnvelope(CommandEnvelope.NewId(), kind, text), Check,
            engine.Options.AckTimeout, Polls, cancellationToken);

    public Task DeleteAsync(string session, CancellationToken cancellationToken) =>
        AckClient.StopAsync(engine.Client, session, cancellationToken);

    private static (AckState State, string? Code) Check(OrchestrationMetadata? metadata, string commandId)
    {
        if (metadata is null)
        {
            return (AckState.Gone, null);
        }

        if (metadata.SerializedCustomStatus is not null
            && metadata.ReadCustomStatusAs<BareOrchestration.Status>() is { } status && status.Recent.Contains(commandId))
        {
            return (AckState.Accepted, null);
        }

        return AckClient.IsLive(metadata) ? (AckState.Waiting, null) : (AckState.Gone, null);
    }
}
