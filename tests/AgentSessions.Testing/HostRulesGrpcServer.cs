using System.Text;
using System.Text.Json;
using DurableTask.Core;
using Grpc.Core;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P = Microsoft.DurableTask.Protobuf;

namespace AgentSessions.Testing;

/// <summary>
/// The test host's gRPC sidecar with the rules the Functions host applies where it takes an orchestration's
/// result from the worker. Nothing in the Durable Task Framework or the Azure Storage provider enforces them, so
/// without this a test would pass where the app under a real host fails.
/// </summary>
/// <remarks>
/// <para>Custom status size. In the Durable extension (<c>RemoteOrchestratorContext.SetResult</c> →
/// <c>ValidateCustomStatusSize</c>): a custom status over 16 KB as UTF-16 makes <c>SetResult</c> throw, the
/// orchestrator function invocation fails, and <c>OutOfProcMiddleware</c> completes the orchestration as failed
/// with <c>OrchestratorExecutionResult.ForFailure("Function '…' failed with an unhandled exception.", exception)</c>,
/// discarding every other action of the episode. Inputs, outputs, event data and activity results have no such
/// check in the host: the Azure Storage provider moves large ones to blobs.</para>
/// <para>Raising an event. The host's client checks the instance first when the backend is Azure Storage
/// (<c>DurableClient.RaiseEventInternalAsync</c> with <c>CheckStatusBeforeRaiseEvent</c>): no instance, nothing is
/// sent and the call succeeds; an instance that is not running (Running, Pending, Suspended, ContinuedAsNew) makes it
/// throw <c>InvalidOperationException</c>, which reaches the worker as an RPC error. The plain sidecar enqueues the
/// event regardless, and a message for a terminal instance makes the Azure Storage provider rewrite that instance's
/// row, which can bring back an instance that was just purged.</para>
/// <para>A worker that goes away. When the language worker dies, the host fails the invocations it had sent it, and
/// the work items are abandoned and dispatched again to the worker that replaces it. The plain sidecar would wait for
/// their results forever; here they fail as soon as the worker's stream ends.</para>
/// </remarks>
public sealed class HostRulesGrpcServer(
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory,
    IOrchestrationService service,
    IOrchestrationServiceClient client,
    IOptions<TaskHubGrpcServerOptions> options)
    : TaskHubGrpcServer(lifetime, loggerFactory, service, client, options)
{
    private readonly IOrchestrationServiceClient instances = client;

    /// <summary>The host's limit: 16 KB of UTF-16.</summary>
    public const int MaxCustomStatusKilobytes = 16;

    public override async Task<P.CompleteTaskResponse> CompleteOrchestratorTask(P.OrchestratorResponse request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
#pragma warning disable CS0612 // IsPartial is obsolete but still marks chunked results; the custom status comes with the last chunk.
        var problem = request.IsPartial ? null : CustomStatusProblem(request.CustomStatus);
#pragma warning restore CS0612
        if (problem is null)
        {
            return await base.CompleteOrchestratorTask(request, context);
        }

        // Only on this rare path: the name of the function, for the host's wording of the failure.
        var name = (await instances.GetOrchestrationStateAsync(request.InstanceId, executionId: null))?.Name ?? "orchestrator";

        var failed = new P.OrchestratorResponse
        {
            InstanceId = request.InstanceId,
            CompletionToken = request.CompletionToken,
            Actions =
            {
                new P.OrchestratorAction
                {
                    CompleteOrchestration = new P.CompleteOrchestrationAction
                    {
                        OrchestrationStatus = P.OrchestrationStatus.Failed,
                        Result = JsonSerializer.Serialize(new
                        {
                            message = $"Function '{name}' failed with an unhandled exception.",
                            details = "System.ArgumentException: " + problem,
                        }),
                    },
                },
            },
        };
        return await base.CompleteOrchestratorTask(failed, context);
    }

    public override async Task<P.RaiseEventResponse> RaiseEvent(P.RaiseEventRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var state = await instances.GetOrchestrationStateAsync(request.InstanceId, executionId: null);
        if (state is null)
        {
            return new P.RaiseEventResponse();
        }

        if (state.OrchestrationStatus is not (OrchestrationStatus.Running or OrchestrationStatus.Pending or OrchestrationStatus.Suspended
            or OrchestrationStatus.ContinuedAsNew))
        {
            throw new RpcException(new Status(StatusCode.Unknown,
                $"Exception was thrown by handler. InvalidOperationException: Cannot raise event {request.Name} for orchestration instance " +
                $"{request.InstanceId} because instance is in {state.OrchestrationStatus} state"));
        }

        return await base.RaiseEvent(request, context);
    }

    public override async Task GetWorkItems(P.GetWorkItemsRequest request, IServerStreamWriter<P.WorkItem> responseStream, ServerCallContext context)
    {
        try
        {
            await base.GetWorkItems(request, responseStream, context);
        }
        finally
        {
            FailPendingWorkItems(new RpcException(new Status(StatusCode.Unavailable, "The worker disconnected before it finished the work item.")));
        }
    }

    /// <summary>
    /// Fails every work item the sidecar is waiting on, so its dispatcher abandons them. The test host keeps these in
    /// private dictionaries of task completion sources (one per orchestration instance, one per activity).
    /// </summary>
    private void FailPendingWorkItems(Exception failure)
    {
        foreach (var name in PendingFields)
        {
            var field = typeof(TaskHubGrpcServer).GetField(name, System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
                ?? throw new InvalidOperationException($"TaskHubGrpcServer has no field {name}: the test host changed; update {nameof(HostRulesGrpcServer)}.");
            var pending = (System.Collections.IDictionary)field.GetValue(this)!;
            foreach (var key in pending.Keys.Cast<object>().ToList())
            {
                var completion = pending[key];
                pending.Remove(key);
                completion?.GetType().GetMethod(nameof(TaskCompletionSource.TrySetException), [typeof(Exception)])!.Invoke(completion, [failure]);
            }
        }
    }

    private static readonly string[] PendingFields = ["pendingOrchestratorTasks", "pendingActivityTasks"];

    /// <summary>The host's message for a custom status it refuses, or null when it is accepted.</summary>
    public static string? CustomStatusProblem(string? customStatus)
    {
        var kilobytes = customStatus is null ? 0 : Encoding.Unicode.GetByteCount(customStatus) / 1024.0;
        return kilobytes > MaxCustomStatusKilobytes
            ? $"CustomStatus is too large: limit = {MaxCustomStatusKilobytes} KB (UTF-16), actual = {kilobytes:N2} KB."
            : null;
    }
}
