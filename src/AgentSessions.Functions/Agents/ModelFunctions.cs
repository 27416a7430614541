using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Agents;

/// <summary>
/// <c>GET /v1/models</c>, which the SDKs call to list what <c>agent_name</c> accepts: the agents
/// this deployment configures. None of them drives a desktop, so <c>filter=desktop</c> lists none.
/// </summary>
public sealed class ModelFunctions(ApiKeyAuthenticator auth, AgentCatalog agents)
{
    [Function("ListModels")]
    public IActionResult List(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/models")] HttpRequest request)
    {
        auth.Authenticate(request);
        var filter = request.Query["filter"].ToString();
        if (filter is not ("" or "cdp" or "desktop"))
        {
            throw ApiException.InvalidField("filter", "must be cdp or desktop");
        }

        var models = filter == "desktop"
            ? []
            : agents.Names.Order(StringComparer.Ordinal).Select(Describe).ToList();
        return ApiResults.Json(StatusCodes.Status200OK, new ModelsBody(models), ApiJsonContext.Default.ModelsBody);
    }

    private ModelBody Describe(string name)
    {
        agents.TryGet(name, out var definition);
        return definition.Type switch
        {
            AgentCatalog.HttpType => new ModelBody(name, name, "Agent served over HTTP", ["browser"]),
            AgentCatalog.LlmType => new ModelBody(name, name, $"LLM agent (model {definition.Llm!.Model})",
                definition.Llm.FetchUrl ? ["llm", "fetch_url"] : ["llm"]),
            _ => new ModelBody(name, name, "Scripted agent (no external calls)", ["scripted"]),
        };
    }
}
