using System.Net.Http;
using System.Net.Sockets;
using Azure;
using Azure.Data.Tables;
using Grpc.Core;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Health;

/// <summary>Settings of <see cref="HealthChecker"/>.</summary>
public sealed record HealthOptions
{
    /// <summary>How long one check may take before it counts as failed; a health probe must answer quickly.</summary>
    public TimeSpan CheckTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>For the storage client of the checks: no retries, so a failing account shows at once.</summary>
    public static TableClientOptions StorageClientOptions(TimeSpan timeout) => new()
    {
        Retry = { MaxRetries = 0, NetworkTimeout = timeout },
    };
}

/// <summary>
/// Whether the app's dependencies answer: the storage account (the table service: messages and claims live there)
/// and the Durable task hub (through the Durable client, a query that cannot match any instance). Both run at once,
/// each bounded by <see cref="HealthOptions.CheckTimeout"/>.
/// </summary>
public sealed class HealthChecker(TableServiceClient tables, HealthOptions options, ILogger<HealthChecker> logger)
{
    /// <summary>Instance ids are <c>owner:uuid</c> and owners never contain '~', so this prefix matches nothing.</summary>
    public const string ProbeInstancePrefix = "~health~";

    public async Task<HealthReport> CheckAsync(DurableTaskClient durable, CancellationToken cancellationToken)
    {
        var storage = RunAsync("storage", ProbeStorageAsync, cancellationToken);
        var taskHub = RunAsync("task_hub", token => ProbeTaskHubAsync(durable, token), cancellationToken);
        var checks = new HealthChecks(await storage, await taskHub);
        var healthy = checks.Storage.Status == HealthReport.Healthy && checks.TaskHub.Status == HealthReport.Healthy;
        return new HealthReport(healthy ? HealthReport.Healthy : HealthReport.Unhealthy, checks);
    }

    private async Task ProbeStorageAsync(CancellationToken cancellationToken)
    {
        await foreach (var _ in tables.QueryAsync(maxPerPage: 1, cancellationToken: cancellationToken).AsPages(pageSizeHint: 1))
        {
            break;
        }
    }

    private static async Task ProbeTaskHubAsync(DurableTaskClient durable, CancellationToken cancellationToken)
    {
        var query = new OrchestrationQuery { InstanceIdPrefix = ProbeInstancePrefix, PageSize = 1, FetchInputsAndOutputs = false };
        await foreach (var _ in durable.GetAllInstancesAsync(query).AsPages(pageSizeHint: 1).WithCancellation(cancellationToken))
        {
            break;
        }
    }

    private async Task<CheckResult> RunAsync(string name, Func<CancellationToken, Task> probe, CancellationToken requestAborted)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        deadline.CancelAfter(options.CheckTimeout);
        try
        {
            // WaitAsync too: a client that ignores its token must not hold the probe past the deadline.
            await probe(deadline.Token).WaitAsync(deadline.Token);
            return CheckResult.Passed;
        }
        catch (Exception exception) when (!requestAborted.IsCancellationRequested)
        {
            var error = deadline.IsCancellationRequested
                ? $"no answer within {options.CheckTimeout.TotalSeconds:0.#} s"
                : Describe(exception);
            logger.LogWarning(exception, "Health check {Check} failed: {Error}", name, error);
            return CheckResult.Failed(error);
        }
    }

    /// <summary>
    /// What went wrong, from exception types known to say nothing secret (status codes, socket errors); anything else
    /// is named by its type only. The full exception goes to the log.
    /// </summary>
    public static string Describe(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case RequestFailedException { Status: > 0 } failed:
                    return $"storage answered HTTP {failed.Status}{(string.IsNullOrEmpty(failed.ErrorCode) ? string.Empty : " " + failed.ErrorCode)}";
                case RpcException rpc:
                    return $"the Durable client call failed: {rpc.StatusCode}";
                case SocketException socket:
                    return $"unreachable: {socket.SocketErrorCode}";
                case HttpRequestException { InnerException: null } http:
                    return $"unreachable: {http.HttpRequestError}";
            }
        }

        return $"failed: {exception.GetType().Name}";
    }
}
