using AgentSessions.Functions.Agents;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Http;

/// <summary>The one place where exceptions from HTTP functions become error bodies.</summary>
public sealed class ErrorBodyMiddleware(ILogger<ErrorBodyMiddleware> logger) : IFunctionsWorkerMiddleware
{
    public async Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (Exception exception) when (context.GetHttpContext() is { } http && !http.Response.HasStarted)
        {
            var error = Unwrap(exception);
            if (error is null)
            {
                logger.LogError(exception, "Unhandled error in {Function}", context.FunctionDefinition.Name);
                await ApiResults.InternalError().WriteAsync(http.Response);
                return;
            }

            if (error.StatusCode >= 500)
            {
                logger.LogWarning(exception, "{Function} answered {Status} {Code}", context.FunctionDefinition.Name, error.StatusCode, error.Code);
            }

            await ApiResults.Error(error).WriteAsync(http.Response);
        }
    }

    /// <summary>The worker may wrap what a function threw; find the answer it meant to give.</summary>
    public static ApiException? Unwrap(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is ApiException api)
            {
                return api;
            }

            if (FromAgent(current) is { } agentError)
            {
                return agentError;
            }

            if (BackendFailures.IsTransient(current))
            {
                return ApiException.Unavailable("The session store is not available right now; retry shortly", current);
            }

            if (current is AggregateException { InnerExceptions.Count: 1 } aggregate)
            {
                return Unwrap(aggregate.InnerExceptions[0]);
            }
        }

        return null;
    }

    /// <summary>Calls that go to an agent (navigate, screenshot) fail the way the agent failed.</summary>
    private static ApiException? FromAgent(Exception exception) => exception switch
    {
        AgentCapabilityNotSupportedException unsupported => new ApiException(501, "not_implemented", unsupported.Message),
        AgentTransientException { StatusCode: null } unreachable => new ApiException(504, "agent_unavailable", unreachable.Message),
        AgentTransientException transient => new ApiException(502, "agent_unavailable", transient.Message),
        AgentPermanentException { StatusCode: 404 or 501 } missing => new ApiException(501, "not_implemented", missing.Message),
        AgentPermanentException permanent => new ApiException(502, "agent_error", permanent.Message),
        _ => null,
    };
}
