#include "azure/model_upload.h"
